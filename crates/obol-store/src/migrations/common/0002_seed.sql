-- Seed data: the operator's root reseller, the payment methods and the sandbox services.
-- `{{now}}` is replaced by the migration runner with the current time (Unix microseconds).

INSERT INTO resellers (parent_id, name, ancestry, created_at, updated_at) VALUES (NULL, 'Operator', '/1/', {{now}}, {{now}});

INSERT INTO payment_methods (id, code, name_en, name_ru, name_uk, category, logo_url, icon_url, online) VALUES
    (1, 'payment_card', 'Payment card', 'Платежная карта', 'Платіжна карта', 'payment_card', 'https://static.openfintech.io/payment_methods/payment_card/logo.svg', 'https://static.openfintech.io/payment_methods/payment_card/icon.svg', TRUE),
    (2, 'cash', 'Cash', 'Наличные', 'Готівка', 'offline', NULL, NULL, FALSE),
    (3, 'bank_transfer', 'Bank transfer', 'Банковский перевод', 'Банківський переказ', 'offline', NULL, NULL, FALSE),
    (4, 'applepay', 'Apple Pay', 'Apple Pay', 'Apple Pay', 'wallet', 'https://static.openfintech.io/payment_methods/applepay/logo.svg', 'https://static.openfintech.io/payment_methods/applepay/icon.svg', TRUE),
    (5, 'googlepay', 'Google Pay', 'Google Pay', 'Google Pay', 'wallet', 'https://static.openfintech.io/payment_methods/googlepay/logo.svg', 'https://static.openfintech.io/payment_methods/googlepay/icon.svg', TRUE),
    (6, 'test', 'Test', 'Тест', 'Тест', 'alternative', 'https://static.openfintech.io/payment_methods/test/logo.png', 'https://static.openfintech.io/payment_methods/test/icon.svg', TRUE);

INSERT INTO payment_services (code, method_id, currency, flow, amount_min, amount_max, test_mode) VALUES
    ('payment_card_usd_hpp', 1, 'USD', 'hpp', 1, 100000000, TRUE),
    ('test_usd_test', 6, 'USD', 'test', 1, 999999900, TRUE),
    ('payment_card_eur_hpp', 1, 'EUR', 'hpp', 1, 100000000, TRUE),
    ('test_eur_test', 6, 'EUR', 'test', 1, 999999900, TRUE),
    ('payment_card_rub_hpp', 1, 'RUB', 'hpp', 1, 100000000, TRUE),
    ('test_rub_test', 6, 'RUB', 'test', 1, 999999900, TRUE),
    ('payment_card_uah_hpp', 1, 'UAH', 'hpp', 1, 100000000, TRUE),
    ('test_uah_test', 6, 'UAH', 'test', 1, 999999900, TRUE);

INSERT INTO service_fields (service_id, key, field_type, label_en, label_ru, label_uk, hint_en, hint_ru, hint_uk, example, regexp, required, position)
SELECT id, 'status', 'string', 'Status', 'Статус', 'Статус', 'Enter Status', 'Введите статус', 'Введіть статус', NULL, '^[a-zA-Z_]*$', TRUE, 0
FROM payment_services WHERE flow = 'test';
