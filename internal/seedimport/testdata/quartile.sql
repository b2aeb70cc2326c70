-- quartile_tokens as seed 003's database.py creates it, with two rows as
-- its refresh_token_worker.py leaves them.
CREATE TABLE quartile_tokens (
    id UUID NOT NULL,
    access_token TEXT,
    refresh_token TEXT,
    access_token_expires TIMESTAMP WITHOUT TIME ZONE,
    updating BOOLEAN,
    json_data JSON,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (id)
);
INSERT INTO quartile_tokens VALUES
 ('6f1c2a3e-1d2b-11ef-9f5a-0242ac120002', 'quartile-at-SECRET-1', 'quartile-rt-SECRET-1', '2024-06-10 13:51:44', false,
  '{"authorization":{"token":"quartile-at-SECRET-1","type":"Bearer","expires_in":3600,"expires_at":"2024-06-10T13:51:44","not_before":0,"note":""},"refresh":{"token":"quartile-rt-SECRET-1","expires_in":86400,"expires_at":"2024-06-11T12:51:44","note":""}}',
  '2024-06-10 12:00:00', '2024-06-10 12:51:44'),
 ('7a2d3b4f-1d2b-11ef-9f5a-0242ac120002', 'quartile-at-SECRET-2', 'quartile-rt-SECRET-2', '2099-01-01 00:00:00', false,
  NULL, '2024-06-10 12:00:01', '2024-06-10 12:00:01');
