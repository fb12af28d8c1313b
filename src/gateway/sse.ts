/**
 * Server-sent events read as they arrive (the upstream's streamed answers): lines split on CR, LF or CRLF,
 * `event:` and `data:` fields, an event ended by a blank line, comments ignored (the WHATWG rules, without
 * retry and id, which the gateway does not need). Pure.
 */
export interface SseEvent {
  event?: string;
  data: string;
}

export class SseReader {
  private buffer = "";
  private event: string | undefined;
  private data: string[] = [];
  readonly events: SseEvent[] = [];

  /** Takes the next piece of the body; complete events are appended to `events`. */
  push(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for the next piece.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  /** The end of the body: a last event without its blank line still counts. */
  end(): void {
    if (this.buffer) this.line(this.buffer);
    this.buffer = "";
    this.line("");
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) this.events.push({ ...(this.event !== undefined ? { event: this.event } : {}), data: this.data.join("\n") });
      this.event = undefined;
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

/** Every event of a whole body. */
export function parseSse(body: string): SseEvent[] {
  const reader = new SseReader();
  reader.push(body);
  reader.end();
  return reader.events;
}
