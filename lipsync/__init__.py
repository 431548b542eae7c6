"""SyncNet lip-sync scoring (LSE-D / LSE-C) and training of an own SyncNet expert."""
