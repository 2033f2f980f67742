import { formatAcsDate } from '../swas/signer.ts';
import { IMAGE_STATUSES, type ImageStatus } from '../sync/model.ts';
import { createRandom, deriveSeed, HEX, LOWER_ALNUM, type Random } from './random.ts';
import { regionIdPrefix } from './region-catalog.ts';
import type { SimulatorImage, SimulatorImageTag } from './simulator-image.ts';

/**
 * Seeded, realistic custom images: Chinese and English names, images with and without a data
 * disk, empty and non-empty tag and instance lists, every status (mostly available), some shared.
 * Everything derives from the seed, so the same seed always yields the same data.
 */

/** Seeded creation times lie in the two years before this instant, so images added later sort first. */
export const SEED_EPOCH_MS = Date.UTC(2025, 5, 30, 8, 0, 0);

/** What every image of one simulated account shares. */
export interface AccountProfile {
  /** 16 digits, below 2^53. */
  userId: number;
  /** The first one is the default group most images live in. */
  resourceGroupIds: readonly string[];
}

export function accountProfile(seed: number): AccountProfile {
  const random = createRandom(deriveSeed(seed, 'account'));
  return {
    userId: Number(`18${random.chars('0123456789', 14)}`),
    resourceGroupIds: [0, 1, 2].map(() => `rg-ac${random.chars(LOWER_ALNUM, 13)}`),
  };
}

export interface GenerateImageOptions {
  regionId: string;
  account: AccountProfile;
  /** Ids already taken in the region; the new id is added to it. */
  usedIds: Set<string>;
  creationTimeMs?: number;
  status?: ImageStatus;
}

const STATUS_WEIGHTS: ReadonlyArray<readonly [ImageStatus, number]> = [
  ['1', 82],
  ['0', 4],
  ['2', 4],
  ['3', 5],
  ['4', 5],
];

interface SourceImage {
  name: string;
  versions: readonly string[];
  osType: 'Linux' | 'Windows';
  systemDisks: readonly number[];
}

const SOURCE_IMAGES: readonly SourceImage[] = [
  { name: 'CentOS', versions: ['7.6', '7.9', '8.2'], osType: 'Linux', systemDisks: [40, 50, 60] },
  { name: 'Ubuntu', versions: ['20.04', '22.04', '24.04'], osType: 'Linux', systemDisks: [40, 50, 60, 80] },
  { name: 'Debian', versions: ['11.2', '12.4'], osType: 'Linux', systemDisks: [40, 50] },
  { name: 'Alibaba Cloud Linux', versions: ['3.2104 LTS'], osType: 'Linux', systemDisks: [40, 60, 100] },
  { name: 'WordPress', versions: ['6.4.3', '6.5.2'], osType: 'Linux', systemDisks: [40, 50, 80] },
  { name: '宝塔Linux面板', versions: ['8.0.5', '9.0.0'], osType: 'Linux', systemDisks: [40, 60, 80] },
  { name: 'Docker', versions: ['26.1.3'], osType: 'Linux', systemDisks: [60, 80, 100] },
  { name: 'LAMP', versions: ['7.4'], osType: 'Linux', systemDisks: [40, 50] },
  {
    name: 'Windows Server',
    versions: ['2019 数据中心版', '2022 数据中心版'],
    osType: 'Windows',
    systemDisks: [40, 60],
  },
];

const ENVIRONMENTS = ['生产环境', '测试环境', '预发环境', '开发环境'] as const;
const PURPOSES = [
  '网站',
  '数据库',
  '应用服务器',
  '小程序后端',
  '博客',
  '电商',
  'API网关',
  '文件服务器',
  '监控',
  '游戏服务器',
] as const;
const ENGLISH_BASES = [
  'wordpress-prod',
  'nginx-base',
  'docker-host',
  'lamp-stack',
  'k3s-node',
  'gitlab-runner',
  'web-frontend',
  'mysql-replica',
] as const;
const TAG_CHOICES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['env', ['prod', 'test', 'dev']],
  ['项目', ['官网', '商城', '小程序']],
  ['owner', ['ops', 'dev-team', '张三']],
  ['backup', ['weekly', 'monthly']],
  ['cost-center', ['cc-1024', 'cc-2048']],
];

const pad2 = (n: number) => String(n).padStart(2, '0');
const compactDate = (ms: number) => formatAcsDate(ms).slice(0, 10).replaceAll('-', '');

function imageName(random: Random, creationTimeMs: number): string {
  const nn = pad2(random.int(1, 30));
  switch (random.int(0, 5)) {
    case 0:
    case 1:
      return `${random.pick(ENVIRONMENTS)}-${random.pick(PURPOSES)}镜像-${nn}`;
    case 2:
      return `${random.pick(PURPOSES)}备份镜像-${compactDate(creationTimeMs)}`;
    case 3:
      return `宝塔面板-${compactDate(creationTimeMs)}`;
    case 4:
      return `${random.pick(ENGLISH_BASES)}-${nn}`;
    default:
      return `${random.pick(ENGLISH_BASES)}-v${random.int(1, 9)}.${random.int(0, 20)}`;
  }
}

function imageDescription(random: Random, source: SourceImage, version: string): string {
  return random.pick([
    '',
    '',
    `基于 ${source.name} ${version} 定制的系统盘镜像，用于快速扩容`,
    '迁移前的完整备份，请勿删除',
    '每周例行备份',
    '数据库备份镜像',
    `Golden image built on ${source.name} ${version}`,
    'Created by ops for disaster recovery',
  ]);
}

function tags(random: Random): SimulatorImageTag[] {
  if (random.chance(0.6)) return [];
  const count = random.int(1, 3);
  const chosen: SimulatorImageTag[] = [];
  for (const [key, values] of TAG_CHOICES) {
    if (chosen.length < count && random.chance(0.5)) chosen.push({ Key: key, Value: random.pick(values) });
  }
  return chosen;
}

function uniqueId(random: Random, prefix: string, usedIds: Set<string>): string {
  for (;;) {
    const id = `${prefix}${random.chars(LOWER_ALNUM, 17)}`;
    if (!usedIds.has(id)) {
      usedIds.add(id);
      return id;
    }
  }
}

/** One realistic image; consumes `random`, so a fixed stream yields a fixed sequence of images. */
export function generateImage(random: Random, options: GenerateImageOptions): SimulatorImage {
  const prefix = regionIdPrefix(options.regionId);
  const status = options.status ?? random.weighted(STATUS_WEIGHTS);
  const transitional = status === '0' || status === '4';
  const creationTimeMs =
    options.creationTimeMs ??
    SEED_EPOCH_MS - (transitional ? random.int(60, 86_400) : random.int(3_600, 730 * 86_400)) * 1000;
  const source = random.pick(SOURCE_IMAGES);
  const version = random.pick(source.versions);
  const hasDataDisk = random.chance(0.35);
  const usable = status === '1' || status === '2';
  const instanceId = random.chars(HEX, 32);
  const dataSnapshotId = `s-${prefix}${random.chars(LOWER_ALNUM, 17)}`;
  // Images without a data disk are seen both ways in the wild: empty strings, or no fields at all.
  const dataSnapshot = hasDataDisk
    ? {
        DataSnapshotId: dataSnapshotId,
        DataSnapshotName: `数据盘快照-${compactDate(creationTimeMs).slice(4)}`,
      }
    : random.chance(0.7)
      ? { DataSnapshotId: '', DataSnapshotName: '' }
      : {};
  return {
    ImageId: uniqueId(random, `m-${prefix}`, options.usedIds),
    Name: imageName(random, creationTimeMs),
    Description: imageDescription(random, source, version),
    Status: status,
    RegionId: options.regionId,
    CreationTime: formatAcsDate(creationTimeMs),
    InstanceId: instanceId,
    InstanceName: random.chance(0.5)
      ? `${source.name.split(' ')[0]}-${random.chars(LOWER_ALNUM, 4)}`
      : `${random.pick(['生产服务器', '测试服务器', 'web', 'db'])}-${pad2(random.int(1, 20))}`,
    SystemSnapshotId: `s-${prefix}${random.chars(LOWER_ALNUM, 17)}`,
    SystemSnapshotName: random.chance(0.5)
      ? `auto_${compactDate(creationTimeMs)}_1`
      : `系统盘快照-${compactDate(creationTimeMs).slice(4)}`,
    ...dataSnapshot,
    ResourceGroupId: random.chance(0.7)
      ? (options.account.resourceGroupIds[0] ?? '')
      : random.pick(options.account.resourceGroupIds),
    OsType: source.osType,
    RequiredSystemDiskSize: random.pick(source.systemDisks),
    RequiredDataDiskSize: hasDataDisk ? random.pick([20, 40, 50, 100, 200]) : 0,
    SourceImageName: source.name,
    SourceImageVersion: version,
    UserId: options.account.userId,
    InShare: usable && random.chance(0.15),
    InShareUser: usable && random.chance(0.1),
    Tags: tags(random),
    CreateInstances:
      status === '1' && random.chance(0.5)
        ? Array.from({ length: random.int(1, 3) }, () => random.chars(HEX, 32))
        : [],
  };
}

/**
 * The seeded images of one region, in generation order. A region of at least ten images has every
 * status at least once, so tests and demos always see copying, failed and creating images.
 */
export function generateRegionImages(seed: number, regionId: string, count: number): SimulatorImage[] {
  const random = createRandom(deriveSeed(seed, `region:${regionId}`));
  const account = accountProfile(seed);
  const usedIds = new Set<string>();
  const images = Array.from({ length: count }, () => generateImage(random, { regionId, account, usedIds }));
  if (count >= 10) {
    const missing = (Object.keys(IMAGE_STATUSES) as ImageStatus[]).filter(
      (status) => !images.some((image) => image.Status === status),
    );
    const replaced = new Set<number>();
    for (const status of missing) {
      // Replace an available image (there are plenty, and it cannot be the only one of its status).
      const slot = images.findLastIndex((image, i) => image.Status === '1' && !replaced.has(i));
      if (slot < 0) break;
      replaced.add(slot);
      usedIds.delete(images[slot]?.ImageId ?? '');
      images[slot] = generateImage(random, { regionId, account, usedIds, status });
    }
  }
  return images;
}
