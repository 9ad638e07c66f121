"""The Slack channel: Bolt listeners, Block Kit views and the Slack notifier."""
