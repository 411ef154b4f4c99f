export type Principal =
  | { kind: 'admin'; actor: string }
  | { kind: 'service'; actor: string; serviceKeyId: string; workspaces: ReadonlySet<string>; allWorkspaces: boolean };

export function mayAccessWorkspace(principal: Principal, workspaceId: string): boolean {
  return principal.kind === 'admin' || principal.allWorkspaces || principal.workspaces.has(workspaceId);
}
