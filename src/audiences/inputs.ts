import type { UserChange } from "../pipeline";
import type { Filter, UserField } from "./filter";

/** What a filter reads: the user columns, whether any trait, and the names of the events it counts. */
export type FilterInputs = { columns: ReadonlySet<UserField>; traits: boolean; events: ReadonlySet<string> };

const cache = new WeakMap<Filter, FilterInputs>();

export function filterInputs(filter: Filter): FilterInputs {
  let inputs = cache.get(filter);
  if (!inputs) {
    const acc = { columns: new Set<UserField>(), traits: false, events: new Set<string>() };
    collect(filter, acc);
    cache.set(filter, (inputs = acc));
  }
  return inputs;
}

function collect(filter: Filter, acc: { columns: Set<UserField>; traits: boolean; events: Set<string> }): void {
  switch (filter.type) {
    case "all":
    case "any":
      for (const f of filter.filters) collect(f, acc);
      return;
    case "not":
      return collect(filter.filter, acc);
    case "field":
      if (filter.ref.source === "column") acc.columns.add(filter.ref.column);
      else if (filter.ref.source === "traits") acc.traits = true;
      return;
    case "event":
      // Its `where` reads the event's own properties: new events of that name are what can change it.
      acc.events.add(filter.name);
      return;
  }
}

/**
 * Whether `change` can have changed the filter's truth for the user. What time alone changes (`older_than`,
 * event windows) is not a change of the user: the hourly recompute brings that in.
 */
export function mayChange(inputs: FilterInputs, change: UserChange): boolean {
  if (change.fields === "all") return true;
  for (const c of inputs.columns) if (change.fields.has(c)) return true;
  if (inputs.traits && change.fields.has("traits")) return true;
  for (const name of inputs.events) if (change.events.has(name)) return true;
  return false;
}
