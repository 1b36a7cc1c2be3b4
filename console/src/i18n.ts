// Japanese by default, English on request (remembered per browser).

export type Lang = 'ja' | 'en';

const dict: Record<string, [string, string]> = {
  app: ['koban 指令システム', 'koban command system'],
  login: ['ログオン', 'Log on'],
  username: ['ユーザー名', 'Username'],
  password: ['パスワード', 'Password'],
  totp: ['ワンタイムコード (TOTP)', 'One-time code (TOTP)'],
  logout: ['ログオフ', 'Log off'],
  lock: ['ロック', 'Lock'],
  locked: ['画面はロックされています。再度ログオンしてください。', 'The screen is locked. Log on again.'],
  unlock: ['ロック解除', 'Unlock'],
  calltaker: ['受付台', 'Call-taker'],
  dispatcher: ['指令台', 'Dispatcher'],
  field: ['現場端末', 'Field'],
  stats: ['統計', 'Statistics'],
  new_call: ['新規受理', 'New call'],
  caller_number: ['通報者番号', 'Caller number'],
  incident_type: ['事案種別', 'Incident type'],
  address: ['発生場所 (住所)', 'Location (address)'],
  address_hint: ['住所を入力、または地図をクリック', 'Type an address or click the map'],
  priority: ['優先度', 'Priority'],
  narrative: ['通報内容', 'Narrative'],
  cautions: ['注意事項', 'Cautions'],
  armed: ['凶器所持', 'Armed'],
  violent: ['粗暴', 'Violent'],
  mental_health: ['精神保健', 'Mental health'],
  child: ['子ども', 'Child'],
  caller_pos: ['通報者位置', 'Caller position'],
  radius: ['誤差半径 m', 'Uncertainty m'],
  save: ['登録', 'Save'],
  saved: ['登録しました', 'Saved'],
  duplicates: ['重複の可能性', 'Likely duplicates'],
  no_duplicates: ['重複候補なし', 'No likely duplicates'],
  link: ['この事案に紐付け', 'Link to this incident'],
  linked: ['紐付けました', 'Linked'],
  clear: ['クリア', 'Clear'],
  queue: ['事案一覧', 'Incident queue'],
  units: ['部隊ボード', 'Unit board'],
  recommendation: ['推薦部隊', 'Recommended units'],
  excluded: ['除外', 'Left out'],
  dispatch: ['指令', 'Dispatch'],
  dispatch_top: ['最上位を指令 (D)', 'Dispatch top (D)'],
  timeline: ['経過', 'Timeline'],
  messages: ['メッセージ', 'Messages'],
  send: ['送信', 'Send'],
  message_text: ['本文', 'Text'],
  image: ['画像', 'Image'],
  attach_location: ['事案位置を添付', 'Attach incident location'],
  close_incident: ['事案終結', 'Close incident'],
  disposition: ['処理結果', 'Disposition'],
  transition: ['状態変更', 'Change state'],
  select_incident: ['事案を選択してください', 'Select an incident'],
  age: ['経過', 'Age'],
  state: ['状態', 'State'],
  emergency: ['緊急', 'EMERGENCY'],
  emergency_button: ['緊急ボタン', 'Emergency button'],
  emergency_alert: ['緊急通報: 部隊', 'EMERGENCY: unit'],
  acknowledge: ['確認', 'Acknowledge'],
  my_unit: ['担当部隊', 'My unit'],
  choose_unit: ['部隊を選択', 'Choose unit'],
  current_assignment: ['現在の指令', 'Current assignment'],
  no_assignment: ['指令はありません', 'No assignment'],
  route: ['経路', 'Route'],
  step_acknowledged: ['了解', 'Acknowledged'],
  step_en_route: ['現場へ向かう', 'En route'],
  step_on_scene: ['現着', 'On scene'],
  step_cleared: ['引揚げ', 'Cleared'],
  send_position: ['位置送信', 'Send position'],
  photo: ['写真', 'Photo'],
  report_to_command: ['指令室へ報告', 'Report to the command room'],
  report_text: ['報告内容', 'Report'],
  report_sent: ['報告を送信しました', 'Report sent'],
  field_report: ['現場報告', 'Field report'],
  notes: ['メモ', 'Notes'],
  response_times: ['応答時間', 'Response times'],
  call_to_dispatch: ['受理→指令', 'Call → dispatch'],
  dispatch_to_arrival: ['指令→現着', 'Dispatch → arrival'],
  median: ['中央値', 'Median'],
  p90: ['90%値', 'p90'],
  from: ['開始', 'From'],
  to: ['終了', 'To'],
  show: ['表示', 'Show'],
  by_station: ['署別', 'By station'],
  per_day: ['日別', 'Per day'],
  live: ['ライブ', 'Live'],
  polling: ['定期更新', 'Polling'],
  offline: ['切断', 'Offline'],
  shortcuts: ['ショートカット', 'Shortcuts'],
  sc_calltaker: [
    'Alt+N 新規 · Ctrl+Enter 登録 · ↑↓ 住所候補 · Alt+1…9 重複へ紐付け · Esc クリア',
    'Alt+N new · Ctrl+Enter save · ↑↓ address candidates · Alt+1…9 link duplicate · Esc clear',
  ],
  sc_dispatcher: [
    'J/K 事案移動 · D 最上位を指令 · M メッセージ · C 終結 · / 検索',
    'J/K move in queue · D dispatch top · M message · C close · / filter',
  ],
  error: ['エラー', 'Error'],
  no_permission: ['この画面の権限がありません', 'You have no role for this screen'],
  stale: ['位置古い', 'stale position'],
  filter: ['絞り込み', 'Filter'],
  eta: ['到着予想', 'ETA'],
  inbox: ['受信', 'Inbox'],
  read: ['既読にする', 'Mark read'],
  municipality: ['市区町村', 'Municipality'],
  station: ['管轄署', 'Station'],
  language: ['English', '日本語'],
};

let lang: Lang = (localStorage.getItem('koban.lang') as Lang) === 'en' ? 'en' : 'ja';

export function getLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem('koban.lang', l);
  document.documentElement.lang = l;
}

export function t(key: string): string {
  const e = dict[key];
  if (!e) return key;
  return lang === 'ja' ? e[0] : e[1];
}

const statusNames: Record<string, [string, string]> = {
  available_at_station: ['署待機', 'At station'],
  on_patrol: ['警ら中', 'On patrol'],
  dispatched: ['指令中', 'Dispatched'],
  on_scene: ['現着', 'On scene'],
  transporting: ['搬送中', 'Transporting'],
  break: ['休憩', 'Break'],
  maintenance: ['整備', 'Maintenance'],
  at_station_admin: ['署内業務', 'Station admin'],
  off_duty: ['非番', 'Off duty'],
  // incident states
  new: ['新規', 'New'],
  received: ['受理', 'Received'],
  pending: ['待機', 'Pending'],
  dispatched_incident: ['指令済', 'Dispatched'],
  cleared: ['引揚げ', 'Cleared'],
  closed: ['終結', 'Closed'],
  cancelled: ['取消', 'Cancelled'],
  // assignment steps
  assigned: ['割当', 'Assigned'],
  acknowledged: ['了解', 'Acknowledged'],
  en_route: ['向かう', 'En route'],
};

export function statusName(s: string): string {
  const e = statusNames[s];
  if (!e) return s.replace(/_/g, ' ');
  return lang === 'ja' ? e[0] : e[1];
}
