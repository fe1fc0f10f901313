import type { InStatement, InValue } from "@libsql/client";

/**
 * A piece of SQL with its positional arguments. The evaluator's statements are assembled from kind-specific
 * pieces; building them as fragments keeps every value a bound parameter, never spliced text.
 */
export type Fragment = { readonly sql: string; readonly args: InValue[]; readonly fragment: true };

function isFragment(v: unknown): v is Fragment {
  return typeof v === "object" && v !== null && (v as Fragment).fragment === true;
}

/** `sql\`a = ${1} AND ${other}\`` — values become `?` parameters, fragments are inlined with their args. */
export function sql(strings: TemplateStringsArray, ...values: (Fragment | InValue)[]): Fragment {
  let text = strings[0]!;
  const args: InValue[] = [];
  values.forEach((v, i) => {
    if (isFragment(v)) {
      text += v.sql;
      args.push(...v.args);
    } else {
      text += "?";
      args.push(v);
    }
    text += strings[i + 1]!;
  });
  return { sql: text, args, fragment: true };
}

/** Literal SQL text with its own arguments (for text built by code, never from input). */
sql.raw = (text: string, args: InValue[] = []): Fragment => ({ sql: text, args, fragment: true });

sql.join = (parts: Fragment[], separator: string): Fragment => ({
  sql: parts.map((p) => p.sql).join(separator),
  args: parts.flatMap((p) => p.args),
  fragment: true,
});

/** An empty fragment, for optional clauses. */
sql.empty = { sql: "", args: [], fragment: true } as Fragment;

export function toStatement(f: Fragment): InStatement {
  return { sql: f.sql, args: f.args };
}
