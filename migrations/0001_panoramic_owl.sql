CREATE TABLE `draft_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`draft_id` text NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`actor` text NOT NULL,
	`note` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `draft_history_draft` ON `draft_history` (`draft_id`,`at`);--> statement-breakpoint
CREATE TABLE `drafts` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`rule_id` text NOT NULL,
	`rule_kind` text NOT NULL,
	`user_id` integer NOT NULL,
	`occasion` text NOT NULL,
	`event_id` integer,
	`state` text NOT NULL,
	`subject` text NOT NULL,
	`text_body` text NOT NULL,
	`html_body` text NOT NULL,
	`source` text NOT NULL,
	`drafting` text,
	`autopilot` integer NOT NULL,
	`time_zone` text NOT NULL,
	`created_at` integer NOT NULL,
	`deadline` integer NOT NULL,
	`send_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`reason` text,
	`edited_at` integer,
	`message_id` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `drafts_occasion` ON `drafts` (`project_id`,`rule_id`,`user_id`,`occasion`);--> statement-breakpoint
CREATE INDEX `drafts_state_send_at` ON `drafts` (`state`,`send_at`);--> statement-breakpoint
CREATE INDEX `drafts_state_deadline` ON `drafts` (`state`,`deadline`);--> statement-breakpoint
CREATE INDEX `drafts_project_state` ON `drafts` (`project_id`,`state`,`deadline`);--> statement-breakpoint
CREATE INDEX `drafts_user` ON `drafts` (`user_id`);--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`draft_id` text,
	`rule_id` text,
	`user_id` integer,
	`to_address` text NOT NULL,
	`from_address` text NOT NULL,
	`subject` text NOT NULL,
	`smtp_message_id` text NOT NULL,
	`eml` text NOT NULL,
	`transport` text NOT NULL,
	`state` text NOT NULL,
	`is_test` integer DEFAULT false NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`error` text,
	`smtp_response` text,
	`links` text DEFAULT '[]' NOT NULL,
	`open_count` integer DEFAULT 0 NOT NULL,
	`opened_at` integer,
	`click_count` integer DEFAULT 0 NOT NULL,
	`clicked_at` integer,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `messages_state_next` ON `messages` (`state`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `messages_user_created` ON `messages` (`project_id`,`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_rule_created` ON `messages` (`project_id`,`rule_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_draft` ON `messages` (`draft_id`);--> statement-breakpoint
CREATE TABLE `evaluator_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`duration_ms` integer,
	`trigger` text NOT NULL,
	`status` text NOT NULL,
	`slot` integer,
	`matches` text DEFAULT '[]' NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `evaluator_runs_slot` ON `evaluator_runs` (`slot`);--> statement-breakpoint
CREATE INDEX `evaluator_runs_started` ON `evaluator_runs` (`started_at`);--> statement-breakpoint
CREATE TABLE `rule_firings` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`rule_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`occasion` text NOT NULL,
	`event_id` integer,
	`fired_at` integer NOT NULL,
	`run_id` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rule_firings_occasion` ON `rule_firings` (`project_id`,`rule_id`,`user_id`,`occasion`);--> statement-breakpoint
CREATE INDEX `rule_firings_run` ON `rule_firings` (`run_id`,`id`);--> statement-breakpoint
CREATE INDEX `rule_firings_user` ON `rule_firings` (`user_id`,`fired_at`);