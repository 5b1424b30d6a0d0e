<?php
// Reference shop front page: stands in for the production monolith.
// GET / -> active listings (joined with their shop) from MariaDB, cached in
// memcached for a few seconds. Settings come from the container environment
// (php-fpm pool has clear_env = no).
declare(strict_types=1);

require __DIR__ . '/../src/shop.php';

$config = shop_config();
$status = 200;
$error = null;
$rows = [];
$source = 'database';

try {
    [$rows, $source] = shop_front_listings($config);
} catch (Throwable $e) {
    $status = 503;
    $error = $e->getMessage();
    error_log('shop: ' . $e->getMessage());
}

http_response_code($status);
header('Content-Type: text/html; charset=utf-8');
header('Cache-Control: no-store');
header('X-Devenv-Data-Source: ' . ($error === null ? $source : 'error'));
?>
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title><?= h($config['site_name']) ?></title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<h1><?= h($config['site_name']) ?></h1>
<?php if ($error !== null): ?>
<p class="error">The shop is unavailable: <?= h($error) ?></p>
<?php else: ?>
<p id="data-source">Data source: <?= h($source) ?></p>
<table>
<thead><tr><th>#</th><th>Listing</th><th>Price</th><th>Shop</th><th>Image</th></tr></thead>
<tbody>
<?php foreach ($rows as $row): ?>
<tr class="listing">
<td><?= h((string) $row['id']) ?></td>
<td class="title"><?= h($row['title']) ?></td>
<td class="price"><?= h(format_price((int) $row['price_cents'], $row['currency'])) ?></td>
<td class="shop"><?= h($row['shop_name']) ?></td>
<td class="image"><?php if ($row['image_path'] !== null): $url = media_url($row['image_path']); ?><a href="<?= h($url) ?>"><img src="<?= h($url) ?>" alt="<?= h($row['title']) ?>" width="96" height="72" loading="lazy"></a><?php endif ?></td>
</tr>
<?php endforeach ?>
</tbody>
</table>
<p id="row-count"><?= count($rows) ?> listings</p>
<?php endif ?>
</body>
</html>
