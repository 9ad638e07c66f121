"""Time: the clock, working days and school holidays, and (next) reminders and planning."""
