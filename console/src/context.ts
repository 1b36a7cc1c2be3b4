import type { Disposition, IncidentType, Session } from './types';
import { getLang } from './i18n';

export interface Ctx {
  session: Session;
  types: IncidentType[];
  dispositions: Disposition[];
  roles: Set<string>;
}

export function typeName(ctx: Ctx, code: string): string {
  const ty = ctx.types.find((x) => x.code === code);
  if (!ty) return code;
  return getLang() === 'ja' ? ty.name_ja : ty.name_en;
}

export function dispositionName(ctx: Ctx, code: string): string {
  const d = ctx.dispositions.find((x) => x.code === code);
  if (!d) return code;
  return getLang() === 'ja' ? d.name_ja : d.name_en;
}
