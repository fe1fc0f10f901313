/** Sending (SPEC §9): transports, the sender, unsubscribe and tracking routes. */
export { composeMessage, fromAddress } from "./compose";
export { mailRoutes } from "./routes";
export { deliverDue, MAX_ATTEMPTS, reconcileInterrupted, RETRY_DELAYS_MS } from "./sender";
export { suppressAddress, suppressUser } from "./suppress";
export { loadLinkSecret, publicBase, readUnsubscribeToken, unsubscribeToken } from "./tokens";
export { classifyFailure, Messengers, smtpFor, type Messenger } from "./transport";
export { countMessagesByState, getMessageEml, listMessages, type MessageFilter, type MessageView } from "./queries";
export { emitMailEvent, setOnMailEvent, type MailEvent, type MailEventType, type OnMailEvent } from "./events";
