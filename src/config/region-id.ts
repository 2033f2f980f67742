/** A region id as the API spells them (`cn-hangzhou`, `ap-southeast-1`). */
export const isRegionId = (text: string): boolean => /^[a-z]{2}-[a-z0-9-]+$/.test(text);
