"""Backup and point-in-time restore programs run by the backup CronJob and restore Job."""
