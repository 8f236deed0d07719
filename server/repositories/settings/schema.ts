import { z } from "zod";

const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** The server name clients connect to: a host name or an IPv4 address; empty means not set. */
export const publicHostSchema = z
  .string()
  .trim()
  .max(253, "No host name is that long.")
  .refine((v) => v === "" || HOST_NAME.test(v), "Enter a host name such as tunnel.example.net, or an IPv4 address.");
