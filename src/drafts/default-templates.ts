import type { DraftRule } from "./types";

/**
 * Default templates, one per default rule id (SPEC §7), written the way a founder writes: short, plain, one
 * question, signed by a person. HTML is derived from the text unless a template sets `html` (and text from the
 * html when a template sets only that: at least one of the two is always there). Every message
 * also gets an unsubscribe footer (see render.ts), so these do not carry one.
 */
export type TemplateSet = { subject: string; text?: string; html?: string };

const HI = `Hi {{ user.first_name | default: "there" }},`;

export const DEFAULT_TEMPLATES: Readonly<Record<string, TemplateSet>> = {
  welcome: {
    subject: "Welcome to {{ project.name }}, {{ user.first_name | default: 'there' }}",
    text: `${HI}

Thanks for signing up for {{ project.name }}. I'm one of the people building it, and this email comes straight from me — if you hit reply, I'll read it.

Quick question: what made you sign up? Knowing what you're trying to get done helps me point you to the right place to start.

{{ project.signature }}`,
  },
  onboarding_stalled: {
    subject: "Need a hand getting set up?",
    text: `${HI}

I noticed you started setting up {{ project.name }} but didn't get to the end. Totally normal — but if something got in the way, I'd like to know.

Reply with where you got stuck and I'll help you through it (or fix it on our side).

{{ project.signature }}`,
  },
  trial_expiring: {
    subject: "Your {{ project.name }} trial ends soon",
    text: `${HI}

A quick heads-up: your {{ project.name }} trial ends {% if user.trial_ends_at %}on {{ user.trial_ends_at | date: "%B %-d" }}{% else %}in a few days{% endif %}.

If it's been useful, you can pick a plan any time from your account settings. If it hasn't clicked yet, reply and tell me what's missing — I can extend your trial while we sort it out.

{{ project.signature }}`,
  },
  payment_failed: {
    subject: "Your last payment didn't go through",
    text: `${HI}

Your last payment for {{ project.name }} didn't go through{% if event.properties.reason %} ({{ event.properties.reason }}){% endif %}. It happens — usually it's an expired card.

Could you update your billing details when you get a minute? Nothing changes on your account in the meantime. If something looks wrong, just reply.

{{ project.signature }}`,
  },
  cancellation_save: {
    subject: "Sorry to see you go",
    text: `${HI}

I saw you cancelled your {{ project.name }} subscription. No hard feelings — but I'd really like to know why.

Was something missing, broken, or too expensive? One line in reply would help us a lot, and if it's something we can fix, I'll tell you when it's done.

{{ project.signature }}`,
  },
  win_back: {
    subject: "It's been a while, {{ user.first_name | default: 'friend' }}",
    text: `${HI}

It's been about a month since you left {{ project.name }}. We've kept working on it since, and a lot of it came from what people like you told us.

Your account is still there if you'd like another look. And if there's something we could have done better, I'd love to hear it.

{{ project.signature }}`,
  },
  inactive_14d: {
    subject: "Everything ok?",
    text: `${HI}

I noticed you haven't been in {{ project.name }} for a couple of weeks. Did you get what you needed, or did something get in the way?

Reply and let me know — I read every answer.

{{ project.signature }}`,
  },
  first_feature: {
    subject: "{% if rule.feature %}Have you tried {{ rule.feature }}?{% else %}Getting the most out of {{ project.name }}{% endif %}",
    text: `${HI}

You signed up for {{ project.name }} a few days ago, but haven't tried {% if rule.feature %}{{ rule.feature }}{% else %}any of the main features{% endif %} yet. That's where most people start seeing the point of it.

Want me to walk you through it? Reply with what you're working on and I'll send you the shortest way in.

{{ project.signature }}`,
  },
};

const GENERIC: TemplateSet = {
  subject: "A quick note from {{ project.name }}",
  text: `${HI}

Just checking in from {{ project.name }}. Is there anything I can help you with? Reply to this email and it comes straight to me.

{{ project.signature }}`,
};

/** The default template for a rule: by its id when it is a default rule, else by its kind. */
export function defaultTemplateFor(rule: Pick<DraftRule, "id" | "kind" | "stage">): TemplateSet {
  const byId = DEFAULT_TEMPLATES[rule.id];
  if (byId) return byId;
  switch (rule.kind) {
    case "welcome":
      return DEFAULT_TEMPLATES.welcome!;
    case "onboarding_stalled":
      return DEFAULT_TEMPLATES.onboarding_stalled!;
    case "trial_expiring":
      return DEFAULT_TEMPLATES.trial_expiring!;
    case "payment_failed":
      return DEFAULT_TEMPLATES.payment_failed!;
    case "cancellation":
      return rule.stage === "churned" ? DEFAULT_TEMPLATES.win_back! : DEFAULT_TEMPLATES.cancellation_save!;
    case "inactivity":
      return DEFAULT_TEMPLATES.inactive_14d!;
    case "feature_adoption":
      return DEFAULT_TEMPLATES.first_feature!;
    default:
      return GENERIC;
  }
}

/** The rule's template with every part it leaves out taken from its default. */
export function templateFor(rule: DraftRule): TemplateSet {
  const base = defaultTemplateFor(rule);
  const own = rule.template ?? {};
  // A rule that writes its own text but no html gets html derived from its own text, not the default's; one that
  // writes its own html but no text gets text derived from its own html (render.ts), so both parts say the same.
  if (own.text === undefined && own.html !== undefined) return { subject: own.subject ?? base.subject, html: own.html };
  const html = own.html ?? (own.text !== undefined ? undefined : base.html);
  return { subject: own.subject ?? base.subject, text: own.text ?? base.text, ...(html !== undefined ? { html } : {}) };
}
