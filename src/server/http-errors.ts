/**
 * The one body shape of every HTTP error the service sends, 4xx and 5xx alike: `{ "error": "…", "field"?:
 * "…" }` — one line saying what is wrong, and the request field it concerns. Values quoted back are cut.
 */
import type { FastifyReply } from "fastify";

/** A value quoted in an error, cut to 60 characters: an error never echoes a whole input back. */
export function clip(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}…` : value;
}

/** Sends an error answer: { error, field? }. */
export function refuse(reply: FastifyReply, status: number, error: string, field?: string): FastifyReply {
  return reply.code(status).send(field === undefined ? { error } : { error, field });
}
