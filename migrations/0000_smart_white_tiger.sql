CREATE TABLE `admin_users` (
	`id` text PRIMARY KEY NOT NULL,
	`username` text NOT NULL,
	`role` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_users_username` ON `admin_users` (`username`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`lookup_prefix` text NOT NULL,
	`last4` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE INDEX `api_keys_lookup` ON `api_keys` (`lookup_prefix`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`autopilot_override` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`project_id` text NOT NULL,
	`key` text NOT NULL,
	`request_hash` text NOT NULL,
	`status` integer NOT NULL,
	`response_body` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `key`)
);
--> statement-breakpoint
CREATE INDEX `idempotency_keys_created` ON `idempotency_keys` (`created_at`);--> statement-breakpoint
CREATE TABLE `ingest_queue` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`kind` text NOT NULL,
	`source` text NOT NULL,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ingest_queue_project` ON `ingest_queue` (`project_id`);--> statement-breakpoint
CREATE TABLE `event_buffer` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`external_user_id` text NOT NULL,
	`source` text NOT NULL,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `event_buffer_user` ON `event_buffer` (`project_id`,`external_user_id`);--> statement-breakpoint
CREATE INDEX `event_buffer_received` ON `event_buffer` (`received_at`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`name` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`received_at` integer NOT NULL,
	`payload` text NOT NULL,
	`properties` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_user_name_time` ON `events` (`user_id`,`name`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `events_project_name_time` ON `events` (`project_id`,`name`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `events_received` ON `events` (`received_at`);--> statement-breakpoint
CREATE TABLE `feature_usage` (
	`user_id` integer NOT NULL,
	`feature` text NOT NULL,
	`project_id` text NOT NULL,
	`count` integer NOT NULL,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `feature`)
);
--> statement-breakpoint
CREATE TABLE `onboarding_steps` (
	`user_id` integer NOT NULL,
	`step` text NOT NULL,
	`project_id` text NOT NULL,
	`completed` integer NOT NULL,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `step`)
);
--> statement-breakpoint
CREATE TABLE `quarantine` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`reason` text NOT NULL,
	`detail` text NOT NULL,
	`kind` text NOT NULL,
	`source` text NOT NULL,
	`payload` text NOT NULL,
	`state` text DEFAULT 'open' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `quarantine_state` ON `quarantine` (`project_id`,`state`,`created_at`);--> statement-breakpoint
CREATE TABLE `stage_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`from_stage` text,
	`to_stage` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stage_history_user` ON `stage_history` (`user_id`,`at`);--> statement-breakpoint
CREATE INDEX `stage_history_to` ON `stage_history` (`project_id`,`to_stage`,`at`);--> statement-breakpoint
CREATE TABLE `suppressions` (
	`project_id` text NOT NULL,
	`email` text NOT NULL,
	`reason` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `email`)
);
--> statement-breakpoint
CREATE TABLE `tracked_users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`external_user_id` text NOT NULL,
	`email` text,
	`name` text,
	`plan` text,
	`signup_date` integer,
	`company` text,
	`role` text,
	`traits` text DEFAULT '{}' NOT NULL,
	`first_seen_at` integer,
	`last_seen_at` integer,
	`stage` text,
	`stage_changed_at` integer,
	`interval` text,
	`mrr` integer,
	`trial_ends_at` integer,
	`churn_at` integer,
	`suppressed` integer DEFAULT false NOT NULL,
	`suppressed_reason` text,
	`suppressed_at` integer,
	`paused` integer DEFAULT false NOT NULL,
	`backfilled` integer DEFAULT false NOT NULL,
	`event_count` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tracked_users_external` ON `tracked_users` (`project_id`,`external_user_id`);--> statement-breakpoint
CREATE INDEX `tracked_users_stage` ON `tracked_users` (`project_id`,`stage`);--> statement-breakpoint
CREATE INDEX `tracked_users_last_seen` ON `tracked_users` (`project_id`,`last_seen_at`);--> statement-breakpoint
CREATE INDEX `tracked_users_email` ON `tracked_users` (`project_id`,`email`);