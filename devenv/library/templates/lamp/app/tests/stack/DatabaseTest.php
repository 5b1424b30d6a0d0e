<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;

/** Against the instance's own MariaDB: the dataset is there and the queries work on it. */
final class DatabaseTest extends TestCase
{
    public function testTheDatasetIsLoaded(): void
    {
        $db = shop_db(shop_config());
        foreach (['users', 'shops', 'listings'] as $table) {
            $count = (int) $db->query("SELECT COUNT(*) FROM $table")->fetchColumn();
            $this->assertGreaterThan(0, $count, "table $table is empty");
        }
    }

    public function testEveryListingBelongsToAShop(): void
    {
        $orphans = (int) shop_db(shop_config())->query(
            'SELECT COUNT(*) FROM listings l LEFT JOIN shops s ON s.id = l.shop_id WHERE s.id IS NULL'
        )->fetchColumn();
        $this->assertSame(0, $orphans);
    }

    public function testFrontListingsAreActiveAndNewestFirst(): void
    {
        $config = shop_config();
        $config['cache_host'] = '127.0.0.1';   // no cache here: this test reads the database
        $config['cache_port'] = 1;
        [$rows, $source] = shop_front_listings($config, 20);
        $this->assertSame('database', $source);
        $this->assertNotEmpty($rows);
        $ids = array_map(fn ($r) => (int) $r['id'], $rows);
        $states = shop_db($config)->query('SELECT DISTINCT state FROM listings WHERE id IN (' . implode(',', $ids) . ')')
            ->fetchAll(PDO::FETCH_COLUMN);
        $this->assertSame(['active'], $states);
    }
}
