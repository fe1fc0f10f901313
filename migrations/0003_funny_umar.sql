CREATE TABLE `audience_history` (
	`id` integer PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`audience_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`entered_at` integer NOT NULL,
	`exited_at` integer
);
--> statement-breakpoint
CREATE INDEX `audience_history_user` ON `audience_history` (`project_id`,`user_id`,`entered_at`);--> statement-breakpoint
CREATE INDEX `audience_history_open` ON `audience_history` (`project_id`,`user_id`,`audience_id`) WHERE exited_at IS NULL;--> statement-breakpoint
CREATE TABLE `audience_members` (
	`project_id` text NOT NULL,
	`audience_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`entered_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `audience_id`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `audience_members_user` ON `audience_members` (`project_id`,`user_id`);