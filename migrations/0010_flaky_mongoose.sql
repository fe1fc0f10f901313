DROP INDEX `event_buffer_received`;--> statement-breakpoint
CREATE INDEX `event_buffer_expiry` ON `event_buffer` (`project_id`,`received_at`);