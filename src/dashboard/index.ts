/** The dashboard (SPEC §11): accounts for the CLI, routes for the app. */
export { addAdmin, removeAdmin, setAdminPassword, verifyAdmin, type Role } from "./accounts";
export { dashboardRoutes } from "./routes";
