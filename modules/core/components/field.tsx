import type { InputHTMLAttributes, ReactNode } from "react";

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  name: string;
  label: string;
  error?: string | undefined;
  hint?: ReactNode;
}

/** A labelled input with its error right under it. */
export function Field({ name, label, error, hint, id, ...input }: FieldProps) {
  const inputId = id ?? `field-${name}`;
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label htmlFor={inputId}>{label}</label>
      <input id={inputId} name={name} aria-invalid={error ? true : undefined} aria-describedby={error ? `${inputId}-error` : undefined} {...input} />
      {hint && !error ? <p className="hint">{hint}</p> : null}
      {error ? (
        <p className="field-error" id={`${inputId}-error`} role="alert" data-field={name}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

interface ChoicesProps {
  name: string;
  legend: string;
  options: readonly string[];
  checked: readonly string[];
  error?: string | undefined;
  type?: "checkbox" | "radio";
}

/** A group of checkboxes (or radio buttons) with its error under it. */
export function Choices({ name, legend, options, checked, error, type = "checkbox" }: ChoicesProps) {
  return (
    <fieldset className={error ? "field field-invalid" : "field"}>
      <legend>{legend}</legend>
      <div className="choices">
        {options.map((option) => (
          <label key={option} className="choice">
            <input type={type} name={name} value={option} defaultChecked={checked.includes(option)} /> {option}
          </label>
        ))}
      </div>
      {error ? (
        <p className="field-error" role="alert" data-field={name}>
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}

interface SelectProps {
  name: string;
  label: string;
  options: readonly string[];
  defaultValue?: string | undefined;
  error?: string | undefined;
  hint?: ReactNode;
}

/** A labelled drop-down with its error right under it. */
export function Select({ name, label, options, defaultValue, error, hint }: SelectProps) {
  const id = `field-${name}`;
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} defaultValue={defaultValue} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined}>
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
      {hint && !error ? <p className="hint">{hint}</p> : null}
      {error ? (
        <p className="field-error" id={`${id}-error`} role="alert" data-field={name}>
          {error}
        </p>
      ) : null}
    </div>
  );
}
