-- Argo CD health of a nexbii.io resource (Tenant, DataSource, Dashboard, SavedQuery,
-- GovernancePolicy, BackupSchedule, Backup, Restore). The operator writes kstatus conditions for every kind: Ready, Reconciling,
-- Stalled, Suspended, with status.observedGeneration. Argo CD runs this in gopher-lua (Lua 5.1).
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end
-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local c = {}
for _, condition in ipairs(status.conditions) do
  c[condition.type] = condition
end
local function is(t)
  return c[t] ~= nil and c[t].status == "True"
end
local function says(t)
  return c[t].reason .. ": " .. (c[t].message or "")
end
if is("Suspended") then
  hs.status = "Suspended"
  hs.message = says("Suspended")
elseif is("Stalled") then
  -- Stalled: retrying will not help, something must change (kstatus).
  hs.status = "Degraded"
  hs.message = says("Stalled")
elseif is("Ready") then
  hs.status = "Healthy"
  hs.message = says("Ready")
elseif is("Reconciling") then
  hs.status = "Progressing"
  hs.message = says("Reconciling")
elseif c.Ready ~= nil then
  hs.status = "Progressing"
  hs.message = says("Ready")
else
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report readiness"
end
return hs
