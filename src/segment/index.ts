/** The Segment-compatible ingest capability (SPEC §13). */
export { segmentRoutes } from "./routes";
export { SEGMENT_EVENT_MAP, mapEventName } from "./names";
export { ANONYMOUS_PREFIX } from "./map";
export { SEGMENT_KEY_PREFIX } from "./dedupe";
