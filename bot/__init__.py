"""The channels: Slack, mail and the command line, and the process that runs them."""
