// Starts a sandbox MariaDB, fills it with sample data, runs `bloodraven backup now` against it
// (backups land in ./backups), and stops the sandbox again, whatever happens.
import { spawn } from 'node:child_process';
import process from 'node:process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { startSandbox } from '../dist/lib/mysql/sandbox.js';
import { nodeProcessRunner } from '../dist/lib/process.js';

const root = join(import.meta.dirname, '..');
const work = join(root, '.sandbox');

const sampleData = `
CREATE DATABASE shop CHARACTER SET utf8mb4;
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) UNIQUE, country CHAR(2), created DATETIME(3));
CREATE TABLE products (id INT PRIMARY KEY, title VARCHAR(200), price DECIMAL(10,2), photo BLOB);
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, product_id INT NOT NULL, qty INT, placed TIMESTAMP,
  KEY (customer_id), FOREIGN KEY (customer_id) REFERENCES customers(id), FOREIGN KEY (product_id) REFERENCES products(id));
INSERT INTO customers SELECT seq, CONCAT('Customer ', seq, IF(seq % 7 = 0, ' 😀', '')), CONCAT('c', seq, '@example.com'),
  ELT(1 + seq % 4, 'DE', 'FR', 'JP', 'BR'), NOW(3) - INTERVAL seq MINUTE FROM seq_1_to_50000;
INSERT INTO products SELECT seq, CONCAT('Product ', seq), seq * 1.25, UNHEX(SHA2(seq, 256)) FROM seq_1_to_2000;
INSERT INTO orders SELECT seq, 1 + seq % 50000, 1 + seq % 2000, 1 + seq % 5, NOW() - INTERVAL seq SECOND FROM seq_1_to_300000;
CREATE VIEW order_totals AS SELECT o.customer_id, SUM(o.qty * p.price) AS total FROM orders o JOIN products p ON p.id = o.product_id GROUP BY o.customer_id;
CREATE TRIGGER orders_qty BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 1);
CREATE FUNCTION with_tax(p DECIMAL(10,2)) RETURNS DECIMAL(10,2) DETERMINISTIC RETURN p * 1.19;
ANALYZE TABLE customers, products, orders;
`;

function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

await mkdir(work, { recursive: true });
process.stderr.write('starting a sandbox MariaDB server...\n');
const sandbox = await startSandbox({ runner: nodeProcessRunner, baseDir: work });
let code = 1;
try {
  const conn = await createConnection({ socketPath: sandbox.socket, user: 'root', multipleStatements: true });
  process.stderr.write('loading sample data (schema "shop": 50,000 customers, 300,000 orders)...\n');
  await conn.query(sampleData);
  await conn.end();
  const config = join(work, 'bloodraven.yaml');
  await writeFile(join(work, 'no-password'), '');
  await writeFile(
    config,
    [
      'name: quickstart',
      `mysql: { socket: ${JSON.stringify(sandbox.socket)}, user: root, passwordFile: ./no-password }`,
      'backup:',
      '  profiles:',
      '    - name: local',
      `      storage: { type: PVC, pvc: { path: ${JSON.stringify(join(root, 'backups'))} } }`,
      '      dump: { threads: 2, compression: zstd }',
      '',
    ].join('\n'),
  );
  process.stderr.write(`running: bloodraven backup now --config ${config}\n\n`);
  code = await run(process.execPath, [join(root, 'bin', 'run.js'), 'backup', 'now', '--config', config], { cwd: root });
} finally {
  await sandbox.stop();
  process.stderr.write('sandbox stopped.\n');
}
process.exitCode = code;
