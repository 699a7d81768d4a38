/**
 * Label and field selectors as the kube-apiserver parses them.
 *
 * Labels: `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key`,
 * `!key`; a comma means AND. `!=` and `notin` match objects that lack the key.
 * Fields: `path=value`, `path==value`, `path!=value` over a per-resource set of field labels;
 * any other field is a 400 (the caller checks the names with {@link fieldSelectorFields}).
 */
import { badRequest } from './status.js';

type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

/** A parsed selector: `matches(labels)` is true when every requirement holds. */
export interface LabelSelector {
  matches(labels: Record<string, string> | undefined): boolean;
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else current += ch;
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function checkKey(key: string, selector: string): string {
  if (!LABEL_KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

function parseRequirement(term: string, selector: string): LabelRequirement {
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (setMatch) {
    const values = (setMatch[3] ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');
    return { key: checkKey(setMatch[1] ?? '', selector), op: setMatch[2] === 'in' ? 'in' : 'notin', values };
  }
  const eqMatch = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (eqMatch) {
    const key = checkKey(eqMatch[1] ?? '', selector);
    return { key, op: eqMatch[2] === '!=' ? 'notin' : 'in', values: [eqMatch[3] ?? ''] };
  }
  if (term.startsWith('!')) return { key: checkKey(term.slice(1).trim(), selector), op: '!exists' };
  if (/^\S+$/.test(term)) return { key: checkKey(term, selector), op: 'exists' };
  throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
}

/** Parses a label selector; an empty or absent one matches everything. Bad syntax → 400. */
export function parseLabelSelector(selector: string | null | undefined): LabelSelector {
  const requirements = selector ? splitTerms(selector).map((t) => parseRequirement(t, selector)) : [];
  return {
    matches(labels) {
      return requirements.every((r) => {
        const value = labels?.[r.key];
        switch (r.op) {
          case 'exists':
            return value !== undefined;
          case '!exists':
            return value === undefined;
          case 'in':
            return value !== undefined && r.values.includes(value);
          case 'notin':
            return value === undefined || !r.values.includes(value);
        }
      });
    },
  };
}

interface FieldRequirement {
  field: string;
  equal: boolean;
  value: string;
}

/** A parsed field selector. */
export interface FieldSelector {
  fields: string[];
  matches(object: Record<string, unknown>): boolean;
}

/** The value a field label stands for, as the server's field-set functions give it. */
export function fieldValue(object: Record<string, unknown>, field: string): string {
  let value: unknown = object;
  for (const part of field.split('.')) {
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (value === undefined || value === null) return field === 'status.successful' ? '0' : '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Parses a field selector, refusing fields outside `allowed` with the real server's 400
 * (`field label not supported: <field>`).
 */
export function parseFieldSelector(selector: string | null | undefined, allowed: readonly string[]): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const term of selector ? splitTerms(selector) : []) {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1] ?? '';
    if (!allowed.includes(field)) throw badRequest(`field label not supported: ${field}`);
    requirements.push({ field, equal: m[2] !== '!=', value: m[3] ?? '' });
  }
  return {
    fields: requirements.map((r) => r.field),
    matches(object) {
      return requirements.every((r) => (fieldValue(object, r.field) === r.value) === r.equal);
    },
  };
}
