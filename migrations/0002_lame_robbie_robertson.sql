ALTER TABLE `quarantine` ADD `external_user_id` text;--> statement-breakpoint
ALTER TABLE `quarantine` ADD `event_name` text;--> statement-breakpoint
ALTER TABLE `quarantine` ADD `received_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `quarantine_created` ON `quarantine` (`created_at`);--> statement-breakpoint
ALTER TABLE `tracked_users` ADD `trial_changed_at` integer;--> statement-breakpoint
ALTER TABLE `tracked_users` ADD `billing_changed_at` integer;