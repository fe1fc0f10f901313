import { addAdmin, removeAdmin, setAdminPassword, type Role } from "../dashboard/accounts";
import { actionOf, CONFIG_HELP, loadForCommand, parseCommandArgs, UsageError, withDatabase, type Command } from "./command";

const USAGE = `vibefollow admin add NAME [--role admin|viewer]   add a dashboard account (password from stdin)
vibefollow admin passwd NAME                       set a new password (from stdin)
vibefollow admin remove NAME                       remove an account
(NAME may also be given as --name NAME. The password: all of stdin, one trailing newline dropped; not empty,
 and under 8 characters it is taken with a warning.)

${CONFIG_HELP}`;

/** Passwords under this length are taken, with a warning: SPEC §11 sets no minimum, and an operator scripting
 * accounts should not find them refused; the login throttle (docs/dashboard.md) limits guessing either way. */
const ADVISED_PASSWORD_LENGTH = 8;

async function readPassword(): Promise<string> {
  const text = (await Bun.stdin.text()).replace(/\r?\n$/, "");
  if (text.length === 0) throw new UsageError("no password on stdin (pipe it in: echo 'a long password' | vibefollow admin add NAME)");
  if (text.length < ADVISED_PASSWORD_LENGTH) {
    console.error(`warning: the password is shorter than ${ADVISED_PASSWORD_LENGTH} characters; a longer one is advised (vibefollow admin passwd NAME)`);
  }
  return text;
}

export const admin: Command = {
  name: "admin",
  summary: "manage dashboard accounts",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { role: { type: "string" }, name: { type: "string" } }, Infinity);
    const action = actionOf("admin", positionals, { add: 2, passwd: 2, remove: 2 });
    // `--name NAME` too, as `keys create --name NAME` spells it (SPEC §1): either way names the account.
    if (values.name !== undefined && positionals[1] !== undefined && values.name !== positionals[1]) {
      throw new UsageError(`two names given: "${positionals[1]}" and --name "${values.name}"`);
    }
    const name = values.name ?? positionals[1];
    if (!name) throw new UsageError(`admin ${action} needs a NAME`);
    const role = (values.role ?? "admin") as Role;
    if (role !== "admin" && role !== "viewer") throw new UsageError('--role is "admin" or "viewer"');
    const loaded = loadForCommand(values.config);
    if (action === "add") {
      const password = await readPassword();
      const added = await withDatabase(loaded, async (db) => {
        const exists = await db.read({ sql: "SELECT 1 FROM admin_users WHERE username = ?", args: [name] });
        if (exists.rows.length > 0) return false;
        await addAdmin(db, name, password, role);
        return true;
      });
      if (!added) {
        console.error(`an account ${name} exists already (change its password with: vibefollow admin passwd ${name})`);
        return 1;
      }
      console.log(`added ${role} ${name}`);
      return 0;
    }
    if (action === "passwd") {
      const password = await readPassword();
      const ok = await withDatabase(loaded, (db) => setAdminPassword(db, name, password));
      console[ok ? "log" : "error"](ok ? `password changed for ${name}` : `no account ${name}`);
      return ok ? 0 : 1;
    }
    const ok = await withDatabase(loaded, (db) => removeAdmin(db, name));
    console[ok ? "log" : "error"](ok ? `removed ${name}` : `no account ${name}`);
    return ok ? 0 : 1;
  },
};
