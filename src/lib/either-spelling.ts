import { snakeKey } from "./case";

/**
 * A read-only view of a JSON value in which a key may be read in any spelling that snake_cases to the same key:
 * `workspaceId`, `workspace_id`, `WorkspaceID` all read `workspace_id` (and, in a nested object kept as sent,
 * `plan_name` reads `planName`). The exact spelling wins when it is there. Nested objects and arrays get the same
 * view as they are read.
 *
 * Aliases are not enumerable: iterating (a Liquid `for`, `| json`, `JSON.stringify`, a spread) sees each key once,
 * in the spelling it has. Values that are not plain objects or arrays come back as they are.
 *
 * @example eitherSpelling({ trial_days: 3 }).trialDays // 3
 */
export function eitherSpelling<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  const proto = Object.getPrototypeOf(value);
  const isArray = Array.isArray(value);
  if (!isArray && proto !== Object.prototype && proto !== null) return value;
  let view = views.get(value);
  if (!view) {
    view = isArray ? new Proxy(value as unknown[], arrayHandler) : new Proxy(value as Record<string, unknown>, objectHandler);
    views.set(value, view);
  }
  return view as T;
}

/** One view per object, so reading the same object twice gives the same value (Liquid's `==`, `contains`). */
const views = new WeakMap<object, object>();
/** Per object: snake_case spelling → the key as it is stored (built on the first read of a missing spelling). */
const spellings = new WeakMap<object, Map<string, string>>();

/** The stored key that `key` names: itself when present, else the one with the same snake_case spelling. */
function storedKey(target: Record<string, unknown>, key: string): string | undefined {
  if (Object.hasOwn(target, key)) return key;
  let bySnake = spellings.get(target);
  if (!bySnake) {
    bySnake = new Map();
    // Reverse order, so that of two stored spellings of one key (nested objects are kept as sent) the first wins.
    for (const k of Object.keys(target).reverse()) bySnake.set(snakeKey(k), k);
    spellings.set(target, bySnake);
  }
  return bySnake.get(snakeKey(key));
}

const objectHandler: ProxyHandler<Record<string, unknown>> = {
  get(target, key, receiver) {
    const stored = typeof key === "string" ? storedKey(target, key) : undefined;
    return stored === undefined ? Reflect.get(target, key, receiver) : eitherSpelling(target[stored]);
  },
  // liquidjs reads only own properties (`hasOwnProperty`): an alias must look like one, though not enumerable.
  getOwnPropertyDescriptor(target, key) {
    const stored = typeof key === "string" ? storedKey(target, key) : undefined;
    if (stored === undefined) return Reflect.getOwnPropertyDescriptor(target, key);
    return { value: eitherSpelling(target[stored]), writable: false, enumerable: stored === key, configurable: true };
  },
  has: (target, key) => (typeof key === "string" && storedKey(target, key) !== undefined) || Reflect.has(target, key),
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false,
};

const arrayHandler: ProxyHandler<unknown[]> = {
  get: (target, key, receiver) => (typeof key === "string" && /^\d+$/.test(key) ? eitherSpelling(target[Number(key)]) : Reflect.get(target, key, receiver)),
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false,
};
