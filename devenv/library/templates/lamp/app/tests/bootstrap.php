<?php
// The shop's code under test, and the settings of the stack it runs in (the
// php container's environment: DEVENV_DB_HOST, ...).
declare(strict_types=1);

require __DIR__ . '/../src/shop.php';

/** The stack's web server as the php container reaches it (the `web` service). */
function shop_test_base_url(): string
{
    return rtrim(env_or('DEVENV_TEST_WEB_URL', 'http://web'), '/');
}
