import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { showAudience, showAudiences } from "./pages/audiences";
import { postApprove, postEdit, postReject, postReschedule, postTestSend, showDraft, showDrafts } from "./pages/drafts";
import { downloadEml, showMessages } from "./pages/messages";
import { showOverview } from "./pages/overview";
import { postBulk, postDiscard, postReplay, showQuarantineItem, showQuarantineList } from "./pages/quarantine";
import { dashboardEvaluator, postEvaluate, showPreview, showRules } from "./pages/rules";
import { postAutopilot, postCreateKey, postRevokeKey, showSettings } from "./pages/settings";
import { postPause, postResume, showUser, showUsers } from "./pages/users";
import { postRedeliver, showWebhooks } from "./pages/webhooks";
import { createRouter, type Route } from "./router";

/**
 * The dashboard (SPEC §11) as an Elysia plugin: server-rendered HTML under /dashboard, no script. Every route
 * passes the router's gate (session, CSRF on POST, role); `admin: true` marks the ones that change something.
 */
export function dashboardRoutes(ctx: AppContext) {
  const evaluator = dashboardEvaluator(ctx);
  const routes: Route[] = [
    { method: "GET", path: "/", handler: showOverview },
    { method: "GET", path: "/users", handler: showUsers },
    { method: "GET", path: "/users/:id", handler: showUser },
    { method: "POST", path: "/users/:id/pause", handler: postPause, admin: true },
    { method: "POST", path: "/users/:id/resume", handler: postResume, admin: true },
    { method: "GET", path: "/quarantine", handler: showQuarantineList },
    { method: "GET", path: "/quarantine/:id", handler: showQuarantineItem },
    { method: "POST", path: "/quarantine/bulk", handler: postBulk, admin: true },
    { method: "POST", path: "/quarantine/:id/replay", handler: postReplay, admin: true },
    { method: "POST", path: "/quarantine/:id/discard", handler: postDiscard, admin: true },
    { method: "GET", path: "/drafts", handler: showDrafts },
    { method: "GET", path: "/drafts/:id", handler: showDraft },
    { method: "POST", path: "/drafts/:id/approve", handler: postApprove, admin: true },
    { method: "POST", path: "/drafts/:id/reject", handler: postReject, admin: true },
    { method: "POST", path: "/drafts/:id/edit", handler: postEdit, admin: true },
    { method: "POST", path: "/drafts/:id/reschedule", handler: postReschedule, admin: true },
    { method: "POST", path: "/drafts/:id/test", handler: postTestSend, admin: true },
    { method: "GET", path: "/messages", handler: showMessages },
    // The .eml holds the recipient's address and name in full: admins only.
    { method: "GET", path: "/messages/:file", handler: downloadEml, admin: true },
    { method: "GET", path: "/rules", handler: showRules },
    { method: "GET", path: "/rules/:id/preview", handler: showPreview },
    { method: "POST", path: "/rules/evaluate", handler: postEvaluate(evaluator), admin: true },
    { method: "GET", path: "/audiences", handler: showAudiences },
    { method: "GET", path: "/audiences/:id", handler: showAudience },
    { method: "GET", path: "/webhooks", handler: showWebhooks },
    { method: "POST", path: "/webhooks/:id/redeliver", handler: postRedeliver, admin: true },
    { method: "GET", path: "/settings", handler: showSettings },
    { method: "POST", path: "/settings/autopilot", handler: postAutopilot, admin: true },
    { method: "POST", path: "/settings/keys", handler: postCreateKey, admin: true },
    { method: "POST", path: "/settings/keys/:id/revoke", handler: postRevokeKey, admin: true },
  ];
  const handle = createRouter(ctx, routes);
  return new Elysia({ name: "dashboard" })
    .all("/dashboard", ({ request }) => handle(request), { parse: "none" })
    .all("/dashboard/*", ({ request }) => handle(request), { parse: "none" });
}
