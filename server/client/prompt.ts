/** Reads a password from the terminal without echo. ^C or ^D abandons. */
export async function askPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new Error("no password in the auth files and no terminal to ask for one (see --auth-file)");
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  let onData: (chunk: Buffer) => void = () => {};
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = "";
      onData = (chunk) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return resolve(text);
          if (ch === "\u0003" || ch === "\u0004") return reject(new Error("no password given"));
          if (ch === "\u007f" || ch === "\b") text = Array.from(text).slice(0, -1).join("");
          else if (ch >= " ") text += ch;
        }
      };
      input.on("data", onData);
    });
  } finally {
    input.off("data", onData);
    input.setRawMode(false);
    input.pause();
    process.stderr.write("\n");
  }
}
