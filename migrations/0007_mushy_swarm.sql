DROP INDEX `audience_history_user`;--> statement-breakpoint
DROP INDEX `audience_history_open`;--> statement-breakpoint
CREATE INDEX `audience_history_user_audience` ON `audience_history` (`project_id`,`user_id`,`audience_id`);