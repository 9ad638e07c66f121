"""The email channel: outbound mail (compose, calendar, outbound, notifier) and inbound mail."""
