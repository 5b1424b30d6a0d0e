<?php
// Data access for the reference shop. Not web-reachable (outside public/).
declare(strict_types=1);

const SHOP_LISTINGS_CACHE_KEY = 'shop:front:listings:v1';

function env_or(string $name, string $default): string
{
    $value = getenv($name);
    return ($value === false || $value === '') ? $default : $value;
}

function shop_config(): array
{
    return [
        'site_name'   => env_or('DEVENV_SITE_NAME', 'shop'),
        'db_host'     => env_or('DEVENV_DB_HOST', 'db'),
        'db_port'     => (int) env_or('DEVENV_DB_PORT', '3306'),
        'db_name'     => env_or('DEVENV_DB_NAME', 'shop'),
        'db_user'     => env_or('DEVENV_DB_USER', 'shop'),
        'db_password' => env_or('DEVENV_DB_PASSWORD', ''),
        'cache_host'  => env_or('DEVENV_CACHE_HOST', 'cache'),
        'cache_port'  => (int) env_or('DEVENV_CACHE_PORT', '11211'),
        'cache_ttl'   => (int) env_or('DEVENV_CACHE_TTL', '10'),
    ];
}

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

/** URL of a listing image: listing_images.path ("media/00042.jpg") is relative to the site root. */
function media_url(string $path): string
{
    return '/' . implode('/', array_map('rawurlencode', explode('/', ltrim($path, '/'))));
}

function format_price(int $cents, string $currency): string
{
    return number_format($cents / 100, 2, '.', ',') . ' ' . $currency;
}

function shop_db(array $c): PDO
{
    $dsn = sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $c['db_host'], $c['db_port'], $c['db_name']);
    return new PDO($dsn, $c['db_user'], $c['db_password'], [
        PDO::ATTR_ERRMODE            => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        PDO::ATTR_EMULATE_PREPARES   => false,
        PDO::ATTR_TIMEOUT            => 5,
    ]);
}

function shop_cache(array $c): ?Memcached
{
    if (!class_exists('Memcached')) {
        return null;
    }
    $mc = new Memcached();
    $mc->setOption(Memcached::OPT_CONNECT_TIMEOUT, 500);   // ms
    $mc->setOption(Memcached::OPT_POLL_TIMEOUT, 500);      // ms
    $mc->addServer($c['cache_host'], $c['cache_port']);
    return $mc;
}

/** @return array{0: list<array<string, mixed>>, 1: string} rows and "cache" or "database" */
function shop_front_listings(array $c, int $limit = 50): array
{
    $mc = shop_cache($c);
    if ($mc !== null) {
        $cached = $mc->get(SHOP_LISTINGS_CACHE_KEY);
        if ($mc->getResultCode() === Memcached::RES_SUCCESS && is_array($cached)) {
            return [$cached, 'cache'];
        }
    }

    $stmt = shop_db($c)->prepare(
        'SELECT l.id, l.title, l.price_cents, l.currency, s.name AS shop_name,
                (SELECT li.path FROM listing_images li
                  WHERE li.listing_id = l.id ORDER BY li.position LIMIT 1) AS image_path
           FROM listings l
           JOIN shops s ON s.id = l.shop_id
          WHERE l.state = \'active\'
          ORDER BY l.created_at DESC, l.id DESC
          LIMIT :limit'
    );
    $stmt->bindValue(':limit', $limit, PDO::PARAM_INT);
    $stmt->execute();
    $rows = $stmt->fetchAll();

    if ($mc !== null && !$mc->set(SHOP_LISTINGS_CACHE_KEY, $rows, $c['cache_ttl'])) {
        error_log('shop: memcached set failed: ' . $mc->getResultMessage());
    }
    return [$rows, 'database'];
}
