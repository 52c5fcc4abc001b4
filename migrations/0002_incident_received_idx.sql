-- Daily statistics (GET /api/v1/stats/today) count by arrival time.
create index incident_received_idx on incident (received_at);
