import { randomBytes } from "node:crypto";
import type { Db } from "../../db/client.ts";
import type { User } from "../../db/generated/client.ts";
import { hashToken } from "../../secrets/token.ts";
import { base32Decode, matchTotp, newTotpSecret } from "../../secrets/totp.ts";
import { totpSealName, type SecretBox } from "../../secrets/tunnel-password.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { DomainError } from "../../domain/errors.ts";

export const RECOVERY_CODE_COUNT = 10;
// 10 characters of a 32-letter alphabet without look-alikes: 50 bits each, shown as xxxxx-xxxxx.
const RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: Date | null;
  /** An enrolment waits for its first code. */
  pending: boolean;
  recoveryCodesLeft: number;
}

/** How a second factor was proven. */
export type SecondFactor = "totp" | "recovery-code";

/** A recovery code as typed: case, spaces and dashes do not matter. */
export function normaliseRecoveryCode(text: string): string {
  return text.toLowerCase().replace(/[\s-]/g, "");
}

export function generateRecoveryCode(random: (n: number) => Buffer = randomBytes): string {
  let out = "";
  while (out.length < 10) {
    for (const b of random(16)) {
      if (b < 256 - (256 % RECOVERY_ALPHABET.length) && out.length < 10) out += RECOVERY_ALPHABET[b % RECOVERY_ALPHABET.length];
    }
  }
  return `${out.slice(0, 5)}-${out.slice(5)}`;
}

/** The TOTP second factor of the web sign-in and its recovery codes. */
export class TwoFactorRepository {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async status(userId: number): Promise<TwoFactorStatus> {
    const user = await this.db.user.findUniqueOrThrow({ where: { id: userId } });
    const recoveryCodesLeft = await this.db.recoveryCode.count({ where: { userId, usedAt: null } });
    return { enabled: user.totpSecret !== null, enabledAt: user.totpEnabledAt, pending: user.totpPendingSecret !== null, recoveryCodesLeft };
  }

  /** Starts (or restarts) an enrolment: a new secret that becomes active once a code from it is confirmed. */
  async begin(userId: number, actor: Actor): Promise<string> {
    const user = await this.require(userId);
    if (user.totpSecret !== null) throw new DomainError("Two-factor sign-in is already on; turn it off first to use another authenticator.");
    const secret = newTotpSecret();
    await audited(this.db, actor, "user.totp.enrol-start", user.name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { totpPendingSecret: this.seal(user.name, secret) } });
      return { result: undefined };
    });
    return secret;
  }

  /** The secret of an enrolment in progress, to show as a QR code; null when none. */
  async pendingSecret(userId: number): Promise<string | null> {
    const user = await this.require(userId);
    return user.totpPendingSecret === null ? null : this.open(user.name, user.totpPendingSecret);
  }

  async cancel(userId: number, actor: Actor): Promise<void> {
    const user = await this.require(userId);
    if (user.totpPendingSecret === null) return;
    await audited(this.db, actor, "user.totp.enrol-cancel", user.name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { totpPendingSecret: null } });
      return { result: undefined };
    });
  }

  /** Activates the pending secret when `code` is one of its codes; returns the recovery codes, to be shown once. */
  async confirm(userId: number, code: string, actor: Actor): Promise<string[]> {
    const user = await this.require(userId);
    if (user.totpPendingSecret === null) throw new DomainError("No enrolment is in progress; start again.");
    const secret = this.open(user.name, user.totpPendingSecret);
    const step = matchTotp(secretBytes(secret), code, this.epochSeconds());
    if (step === null) throw new DomainError("That code does not match; check the time on your phone and type the code now shown.", "code");
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => generateRecoveryCode());
    const now = this.now();
    await audited(this.db, actor, "user.totp.enable", user.name, async (tx) => {
      await tx.user.update({
        where: { id: user.id },
        data: { totpSecret: user.totpPendingSecret, totpPendingSecret: null, totpEnabledAt: now, totpLastStep: step },
      });
      await tx.recoveryCode.deleteMany({ where: { userId: user.id } });
      await tx.recoveryCode.createMany({ data: codes.map((c) => ({ userId: user.id, hash: hashToken(normaliseRecoveryCode(c)), createdAt: now })) });
      return { result: undefined, after: { recoveryCodes: codes.length } };
    });
    return codes;
  }

  /**
   * Checks a second factor: a current TOTP code not used before, or an unused recovery code (which is
   * used up). Null when neither. Not audited here: the sign-in writes what happened.
   */
  async verify(userId: number, input: string): Promise<SecondFactor | null> {
    const user = await this.require(userId);
    if (user.totpSecret === null) return null;
    const text = input.trim();
    if (/^\d{6}$/.test(text.replace(/\s/g, ""))) return (await this.useTotp(user, text)) ? "totp" : null;
    const normalised = normaliseRecoveryCode(text);
    if (!/^[a-z0-9]{10}$/.test(normalised)) return null;
    const { count } = await this.db.recoveryCode.updateMany({
      where: { userId: user.id, hash: hashToken(normalised), usedAt: null },
      data: { usedAt: this.now() },
    });
    return count === 1 ? "recovery-code" : null;
  }

  /** Whether `code` is a current, unused TOTP code of the user (it is used up). */
  async checkTotp(userId: number, code: string): Promise<boolean> {
    const user = await this.require(userId);
    return user.totpSecret !== null && (await this.useTotp(user, code));
  }

  /** Turns two-factor sign-in off and forgets the secret and recovery codes. */
  async disable(userId: number, actor: Actor): Promise<void> {
    const user = await this.require(userId);
    if (user.totpSecret === null && user.totpPendingSecret === null) throw new DomainError("Two-factor sign-in is not on.");
    await audited(this.db, actor, "user.totp.disable", user.name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { totpSecret: null, totpPendingSecret: null, totpEnabledAt: null, totpLastStep: null } });
      const { count } = await tx.recoveryCode.deleteMany({ where: { userId: user.id } });
      return { result: undefined, after: { recoveryCodesDeleted: count } };
    });
  }

  // A code's step must be later than the last one accepted, so each code signs in once; the
  // conditional update makes two simultaneous uses of one code succeed at most once.
  private async useTotp(user: User, code: string): Promise<boolean> {
    const step = matchTotp(secretBytes(this.open(user.name, user.totpSecret!)), code, this.epochSeconds());
    if (step === null) return false;
    const { count } = await this.db.user.updateMany({
      where: { id: user.id, OR: [{ totpLastStep: null }, { totpLastStep: { lt: step } }] },
      data: { totpLastStep: step },
    });
    return count === 1;
  }

  private epochSeconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  private seal(name: string, secret: string): Uint8Array<ArrayBuffer> {
    return this.box.seal(totpSealName(name), secret);
  }

  private open(name: string, sealed: Uint8Array): string {
    return this.box.open(totpSealName(name), sealed);
  }

  private async require(userId: number): Promise<User> {
    const user = await this.db.user.findUnique({ where: { id: userId } });
    if (!user) throw new DomainError("no such user");
    return user;
  }
}

function secretBytes(base32: string): Buffer {
  return base32Decode(base32);
}
