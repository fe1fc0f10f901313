DROP INDEX `rule_firings_run`;--> statement-breakpoint
DROP INDEX `rule_firings_user`;