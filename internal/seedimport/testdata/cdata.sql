-- cdata_plugin_oauth_tokens as seed 000 describes it, with
-- connection_json as the Python dict its document shows for one row and
-- JSON for the others, and MailChimp's request_url left empty.
CREATE TABLE cdata_plugin_oauth_tokens (
    plugin_id INTEGER PRIMARY KEY,
    integration TEXT NOT NULL,
    connection_json TEXT,
    request_url TEXT
);
INSERT INTO cdata_plugin_oauth_tokens VALUES
 (1, 'Salesforce', '{''access_token'': ''sf-at-SECRET'', ''refresh_token'': ''sf-rt-SECRET''}', 'https://login.salesforce.com/services/oauth2/token'),
 (2, 'Hubspot', '{"access_token": "hs-at-SECRET", "refresh_token": "hs-rt-SECRET"}', 'https://api.hubapi.com/oauth/v1/token'),
 (3, 'Google_Analytics', '{"access_token": "ga-at-SECRET", "refresh_token": "ga-rt-SECRET"}', 'https://www.googleapis.com/oauth2/v4/token'),
 (4, 'Xero', '{"access_token": "xe-at-SECRET", "refresh_token": "xe-rt-SECRET"}', 'https://identity.xero.com/connect/token'),
 (5, 'MailChimp', '{"access_token": "mc-at-SECRET", "refresh_token": "mc-rt-SECRET"}', ''),
 (6, 'Validate_Bigquery', '{"access_token": "vb-at-SECRET", "refresh_token": "vb-rt-SECRET"}', 'https://accounts.google.com/o/oauth2/token'),
 (7, 'Run_Bigquery', '{"access_token": "rb-at-SECRET", "refresh_token": "rb-rt-SECRET"}', 'https://accounts.google.com/o/oauth2/token');
