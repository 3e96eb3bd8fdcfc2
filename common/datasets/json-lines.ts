// Line numbers for JSON: JSON.parse gives values but not where they were. These helpers find
// the line of each top-level array element (so a bad row can be reported as file:line) and
// turn a JSON.parse error position into a line and column.

/** 1-based line of each element of the top-level array that starts at `arrayStart` ('['). */
export function arrayElementLines(text: string, arrayStart: number): number[] {
  const lines: number[] = [];
  let line = 1;
  for (let k = 0; k < arrayStart; k++) if (text.charCodeAt(k) === 10) line++;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = arrayStart; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char (never a newline in valid JSON)
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (depth === 1 && expectElement && c !== 93) {
      lines.push(line);
      expectElement = false;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === 93 || c === 125) {
      depth--;
      if (depth === 0) break;
    } else if (c === 44 && depth === 1) expectElement = true;
  }
  return lines;
}

/** "Unexpected token } in JSON at position 123" / "(line 3 column 5)" -> { line, column } */
export function jsonErrorLocation(text: string, message: string): { line: number; column: number } | null {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  if (!pos) return null;
  const p = Math.min(Number(pos[1]), text.length);
  let line = 1;
  let col = 1;
  for (let i = 0; i < p; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return { line, column: col };
}
