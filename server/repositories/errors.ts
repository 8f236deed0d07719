import { Prisma } from "../db/generated/client.ts";

/** Whether a write failed on a unique constraint. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
}
