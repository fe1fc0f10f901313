/**
 * Audiences (SPEC §6): a filter language compiled to SQL, materialised membership with entry and exit times.
 * - the normaliser calls `refreshMembership(tx, project, userIds, at)` inside its transaction;
 * - the hourly evaluator and `vibefollow audiences recompute` call `recomputeAudiences(database, project, at)`;
 *   so does `serve` at start for a project whose audience definitions changed (`audienceDefinitionsService`);
 * - rules read `audience_members`; the dashboard reads `audienceSizes` / `audienceMembers`.
 */
export { compileFilter, type SqlFragment } from "./compile";
export { audienceDefinitionsService } from "./startup";
export { DEFAULT_AUDIENCE_IDS, DEFAULT_AUDIENCES, resolveAudiences, type ResolvedAudience } from "./defaults";
export { isTimeBased, OPERATORS, USER_FIELDS, type Check, type Filter } from "./filter";
export { applyMembership, recomputeAudiences, refreshMembership, type MembershipChange, type RecomputeResult, type Scope } from "./membership";
export { audienceMembers, audienceSizes, userAudiences, type AudienceMember, type AudienceSize } from "./queries";
export { checkAudienceReferences } from "./references";
export { audienceSchema, filterSchema, type AudienceConfig } from "./schema";
