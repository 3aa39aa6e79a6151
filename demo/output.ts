/**
 * Where the primary's human-readable lines go: stdout, or stderr under --json
 * (stdout then carries only the JSON summary). On a terminal the live progress
 * line is redrawn in place, so every other line written during the run must
 * first clear it; this is the one place that knows how.
 */

const CLEAR_LINE = '\r\x1b[2K';

export class HumanOutput {
  private progressShown = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  /** Writes one line. */
  readonly say = (line: string): void => void this.stream.write(`${line}\n`);

  /** Writes one line while the progress line may be on screen: on a terminal, it takes that line's place. */
  announce(line: string): void {
    this.say(`${this.stream.isTTY ? CLEAR_LINE : ''}${line}`);
  }

  /** Shows the progress line: redrawn in place on a terminal, one line per update elsewhere. */
  progress(line: string): void {
    if (this.stream.isTTY) this.stream.write(`${CLEAR_LINE}${line}`);
    else this.say(line);
    this.progressShown = true;
  }

  /** Ends the progress line (on a terminal it has no newline of its own). */
  endProgress(): void {
    if (this.stream.isTTY && this.progressShown) this.stream.write('\n');
  }
}
