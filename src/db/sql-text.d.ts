/** Migrations are imported as text (`import sql from "./0000_x.sql" with { type: "text" }`) so the binary embeds them. */
declare module "*.sql" {
  const text: string;
  export default text;
}
