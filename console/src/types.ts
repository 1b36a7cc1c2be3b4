// Shapes of the API's JSON, as the console uses them.

export interface LatLon {
  lat: number;
  lon: number;
}

export interface Cautions {
  armed: boolean;
  violent: boolean;
  mental_health: boolean;
  child: boolean;
}

export interface TimelineEntry {
  at_us: number;
  actor: string;
  from: string | null;
  to: string;
  note: string;
}

export interface Incident {
  id: string;
  type_code: string;
  priority: number;
  location: { point: LatLon; radius_m: number };
  narrative: string;
  cautions: Cautions;
  call_ids: string[];
  created_us: number;
  state: string;
  disposition: string | null;
  pref_code: string;
  timeline?: TimelineEntry[];
}

export interface Unit {
  id: string;
  kind: string;
  capabilities: string[];
  crew_count: number;
  home_station_id: string;
  status: string;
  position: { point: LatLon; at_us: number } | null;
  pref_code: string;
  position_age_s: number | null;
  position_stale: boolean;
}

/** Where a unit is drawn: last position with a heading worked out from its movement. */
export interface UnitPos {
  lat: number;
  lon: number;
  heading: number;
  at: number;
}

export interface AssignmentEntry {
  at_us: number;
  actor: string;
  from: string | null;
  to: string;
}

export interface Assignment {
  id: string;
  unit_id: string;
  incident_id: string;
  step: string;
  active: boolean;
  timeline: AssignmentEntry[];
}

export interface Message {
  id: string;
  sender_id: string;
  created_at: string;
  to: string;
  target_id: string | null;
  incident_id: string | null;
  text: string;
  location: [number, number] | null;
  image_type: string | null;
  image_base64: string | null;
  receipts: { unit_id: string; delivered_at: string | null; read_at: string | null }[];
}

export interface IncidentType {
  code: string;
  name_ja: string;
  name_en: string;
  default_priority: number;
  required_capabilities: string[];
}

export interface Disposition {
  code: string;
  name_ja: string;
  name_en: string;
}

export interface Session {
  user: {
    id: string;
    username: string;
    display_name: string;
    unit_id: string;
    roles: string[];
    pref_code?: string;
  };
  [k: string]: unknown;
}

export interface Candidate {
  prefecture?: string;
  municipality: string;
  town?: string | null;
  point?: LatLon;
  lat?: number;
  lon?: number;
  [k: string]: unknown;
}

export interface Ranked {
  unit_id: string;
  rank: number;
  eta_s: number;
  distance_m: number;
  method: string;
  status: string;
  dispatchability: string;
  position_age_s: number;
  warnings: string[];
}

export interface Recommendation {
  incident_id: string;
  travel_model: string;
  ranked: Ranked[];
  excluded: { unit_id: string; reason: string | Record<string, unknown> }[];
}

export interface StreamEvent {
  seq: number;
  kind: string;
  prefecture: string;
  at: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}
