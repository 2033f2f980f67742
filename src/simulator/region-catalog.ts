/**
 * The SWAS regions the simulator knows by name (as the real ListRegions lists them), with
 * their local names in both languages ListRegions offers and the zone-ish prefix Alibaba Cloud
 * puts into resource ids of that region (`m-bp1…` in cn-hangzhou). Prefixes of the less common
 * regions are made up; nothing depends on them beyond looking plausible.
 */
export interface RegionInfo {
  /** `LocalName` for `AcceptLanguage=zh-CN` (the default). */
  zh: string;
  /** `LocalName` for `AcceptLanguage=en-US`. */
  en: string;
  /** Three characters after `m-` / `s-` in ids of this region. */
  idPrefix: string;
}

export const REGION_CATALOG: Readonly<Record<string, RegionInfo>> = {
  'cn-qingdao': { zh: '华北1（青岛）', en: 'China (Qingdao)', idPrefix: 'm5e' },
  'cn-beijing': { zh: '华北2（北京）', en: 'China (Beijing)', idPrefix: '2ze' },
  'cn-zhangjiakou': { zh: '华北3（张家口）', en: 'China (Zhangjiakou)', idPrefix: '8vb' },
  'cn-huhehaote': { zh: '华北5（呼和浩特）', en: 'China (Hohhot)', idPrefix: 'hp3' },
  'cn-wulanchabu': { zh: '华北6（乌兰察布）', en: 'China (Ulanqab)', idPrefix: '0jl' },
  'cn-hangzhou': { zh: '华东1（杭州）', en: 'China (Hangzhou)', idPrefix: 'bp1' },
  'cn-shanghai': { zh: '华东2（上海）', en: 'China (Shanghai)', idPrefix: 'uf6' },
  'cn-nanjing': { zh: '华东5（南京-本地地域）', en: 'China (Nanjing - Local Region)', idPrefix: 'gc7' },
  'cn-fuzhou': { zh: '华东6（福州-本地地域）', en: 'China (Fuzhou - Local Region)', idPrefix: 'gw0' },
  'cn-shenzhen': { zh: '华南1（深圳）', en: 'China (Shenzhen)', idPrefix: 'wz9' },
  'cn-heyuan': { zh: '华南2（河源）', en: 'China (Heyuan)', idPrefix: 'f8z' },
  'cn-guangzhou': { zh: '华南3（广州）', en: 'China (Guangzhou)', idPrefix: '7xv' },
  'cn-chengdu': { zh: '西南1（成都）', en: 'China (Chengdu)', idPrefix: '2vc' },
  'cn-wuhan-lr': { zh: '华中1（武汉-本地地域）', en: 'China (Wuhan - Local Region)', idPrefix: 'n4a' },
  'cn-hongkong': { zh: '中国香港', en: 'China (Hong Kong)', idPrefix: 'j6c' },
  'ap-southeast-1': { zh: '新加坡', en: 'Singapore', idPrefix: 't4n' },
  'ap-southeast-3': { zh: '马来西亚（吉隆坡）', en: 'Malaysia (Kuala Lumpur)', idPrefix: '8ps' },
  'ap-southeast-5': { zh: '印度尼西亚（雅加达）', en: 'Indonesia (Jakarta)', idPrefix: 'k1a' },
  'ap-southeast-6': { zh: '菲律宾（马尼拉）', en: 'Philippines (Manila)', idPrefix: 'pm3' },
  'ap-southeast-7': { zh: '泰国（曼谷）', en: 'Thailand (Bangkok)', idPrefix: 'th7' },
  'ap-northeast-1': { zh: '日本（东京）', en: 'Japan (Tokyo)', idPrefix: '6we' },
  'ap-northeast-2': { zh: '韩国（首尔）', en: 'South Korea (Seoul)', idPrefix: 'mj7' },
  'us-west-1': { zh: '美国（硅谷）', en: 'US (Silicon Valley)', idPrefix: 'rj9' },
  'us-east-1': { zh: '美国（弗吉尼亚）', en: 'US (Virginia)', idPrefix: '0xi' },
  'eu-central-1': { zh: '德国（法兰克福）', en: 'Germany (Frankfurt)', idPrefix: 'gw8' },
  'eu-west-1': { zh: '英国（伦敦）', en: 'UK (London)', idPrefix: 'd7o' },
};

/** Prefix for ids in a region the catalog does not know. */
export const FALLBACK_ID_PREFIX = 'bp1';

export type AcceptLanguage = 'zh-CN' | 'en-US';

/** `LocalName` of a region; an unknown region without an override is named by its id. */
export function regionLocalName(regionId: string, language: AcceptLanguage, override?: string): string {
  if (override !== undefined) return override;
  const info = REGION_CATALOG[regionId];
  if (info === undefined) return regionId;
  return language === 'en-US' ? info.en : info.zh;
}

export function regionIdPrefix(regionId: string): string {
  return REGION_CATALOG[regionId]?.idPrefix ?? FALLBACK_ID_PREFIX;
}
