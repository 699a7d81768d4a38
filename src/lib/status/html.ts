/**
 * HTML built so that escaping is the default: the `html` tag escapes every value put into it
 * (text and attribute values alike) unless the value is itself `Html` made by the tag. The status
 * page shows text the server and users wrote (names, failure messages), so nothing may reach the
 * page unescaped by forgetting a call.
 */

/** Markup that is already safe: made by `html` (or `rawHtml` for constant text). */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** What `html` accepts: text and numbers are escaped, `Html` is kept, arrays are joined, null and undefined and false are left out. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe in element content and in a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Tagged template: the literal parts are kept, every interpolated value is escaped (see HtmlValue). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => (out += render(v) + (strings[i + 1] ?? '')));
  return new Html(out);
}

/** Constant markup written in the source (a style sheet), never text from outside. */
export function rawHtml(text: string): Html {
  return new Html(text);
}
